"""The remote tier: a larger model on an OpenAI-compatible server, used only when the user
enabled it. ``router`` decides when to escalate, ``escalation`` wraps the call in retries,
a circuit breaker, rate and spending limits (``resilience``), and ``backend`` speaks HTTP.
"""
