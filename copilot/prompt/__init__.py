"""The prompt: the window of the document around the cursor that fits the token budget
(``window``), the model family's fill-in-the-middle layout (``fim``), and token healing of
the half-typed word at the cursor (``healing``)."""
