// Streaming partial text into VS Code's pull-based inline completion API.
//
// The server sends `copilot/partialCompletion` ({requestId, uri, version, text, done}) while
// the model writes. VS Code only shows what an inline completion provider returns, so the
// provider returns as soon as the first partial text is there, and each later partial that
// extends the suggestion on screen (or the final text, when it differs) re-triggers the
// provider, which answers from this store without asking the server again.
// Pure: no `vscode` import.

export interface Place {
  uri: string;
  version: number;
  line: number;
  character: number;
}

export interface Partial {
  requestId: number;
  uri: string;
  version: number;
  text: string;
  done: boolean;
}

export interface Stream {
  place: Place;
  /** The server's id for the request, from its first partial (or its answer). */
  requestId?: number;
  /** Partials of requests with smaller ids are someone else's. */
  minRequestId: number;
  text: string;
  done: boolean;
  /** What the provider returned last ("" before it returned). */
  shown: string;
  /** The provider has returned: later text reaches the screen only by re-triggering. */
  returned: boolean;
  explicit: boolean;
}

export function samePlace(a: Place, b: Place): boolean {
  return a.uri === b.uri && a.version === b.version && a.line === b.line && a.character === b.character;
}

/** Does `text` extend the suggestion on screen (`shown`) with more text? */
export function extendsSuggestion(shown: string, text: string): boolean {
  return text.length > shown.length && text.startsWith(shown);
}

/** Should newly arrived text be brought to the screen by re-triggering the provider? */
export function shouldRetrigger(stream: Stream, text: string, done: boolean): boolean {
  if (!stream.returned || text === stream.shown) {
    return false;
  }
  // While streaming, only growth is shown (a partial that rewrites the start would make the
  // ghost text jump); the final text always replaces what is on screen.
  return done || extendsSuggestion(stream.shown, text);
}

/** The streams of the documents, one per document (the latest request). */
export class Streams {
  private readonly byUri = new Map<string, Stream>();
  private readonly maxSeen = new Map<string, number>();

  begin(place: Place, explicit = false): Stream {
    const stream: Stream = {
      place,
      minRequestId: (this.maxSeen.get(place.uri) ?? -1) + 1,
      text: "",
      done: false,
      shown: "",
      returned: false,
      explicit,
    };
    this.byUri.set(place.uri, stream);
    return stream;
  }

  /** The stream for exactly this document version and cursor position, if any. */
  at(place: Place): Stream | undefined {
    const stream = this.byUri.get(place.uri);
    return stream && samePlace(stream.place, place) ? stream : undefined;
  }

  get(uri: string): Stream | undefined {
    return this.byUri.get(uri);
  }

  end(stream: Stream): void {
    if (this.byUri.get(stream.place.uri) === stream) {
      this.byUri.delete(stream.place.uri);
    }
  }

  clear(uri?: string): void {
    if (uri === undefined) {
      this.byUri.clear();
    } else {
      this.byUri.delete(uri);
    }
  }

  /** Apply a partial: the stream it belongs to (its text updated) and whether to re-trigger. */
  partial(partial: Partial): { stream: Stream; retrigger: boolean } | undefined {
    this.maxSeen.set(partial.uri, Math.max(this.maxSeen.get(partial.uri) ?? -1, partial.requestId));
    const stream = this.byUri.get(partial.uri);
    if (!stream || stream.place.version !== partial.version || stream.done) {
      return undefined;
    }
    if (stream.requestId === undefined) {
      if (partial.requestId < stream.minRequestId) {
        return undefined;
      }
      stream.requestId = partial.requestId;
    } else if (stream.requestId !== partial.requestId) {
      return undefined;
    }
    const retrigger = shouldRetrigger(stream, partial.text, partial.done);
    stream.text = partial.text;
    stream.done = partial.done;
    return { stream, retrigger };
  }

  /** The server's final answer for the stream's request. */
  finish(stream: Stream, text: string, requestId: number | undefined): boolean {
    if (requestId !== undefined) {
      stream.requestId = requestId;
    }
    const retrigger = shouldRetrigger(stream, text, true);
    stream.text = text;
    stream.done = true;
    return retrigger;
  }
}
