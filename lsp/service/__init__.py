"""One model service per user and model configuration (``copilot-lsp service run``) hosts
the LSP session of every editor; ``copilot-lsp serve`` over stdio is a thin front that
forwards an editor's messages to it (``lsp/front.py``), starting it when none runs.

- ``naming``: the socket's folder and name (a hash of the version and the model
  configuration), the checks of a socket file and of a peer, the handshake lines;
- ``client``: connecting to the right service, or starting it once under a lock;
- ``daemon``: the service process (a ``SessionHost`` behind the socket, idle shutdown);
- ``session_logs``: each session's log lines to its front, at that session's level;
- ``replay``: what a front keeps to replay its session to a restarted service;
- ``stdio``: the front's stdin, read ahead by a thread, and its framing of messages;
- ``commands``: ``copilot-lsp service run|status|stop``.

Everything but ``daemon`` stays light: the front imports neither llama.cpp, tree-sitter,
LMDB nor pygls' server.
"""
