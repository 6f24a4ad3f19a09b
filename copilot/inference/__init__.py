"""The local model: one worker thread owns llama.cpp and serves every request.

``engine`` runs the worker; ``jobs`` holds what it is asked and answers and the queue of
waiting jobs; ``decoding`` the greedy decode loop and ``speculative`` its drafters;
``llama`` the llama.cpp session; ``vocabulary`` the model's tokens and FIM layout, read
from its GGUF; ``gguf_info`` and ``catalogue`` what a model file is and which family it
belongs to.
"""
