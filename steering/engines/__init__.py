"""What generates steered replies besides the HF engine (``steering.generation``): vLLM, in process or as a server.

``wire`` is the spec as it crosses into vLLM, ``vllm_worker`` the steering that runs inside vLLM's workers
(loaded by the package's ``vllm.general_plugins`` entry point), ``vllm_engine`` the in-process engine and the
request/reply semantics both vLLM backends share, ``vllm_server`` a running ``vllm serve``.
"""
