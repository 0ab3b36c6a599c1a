"""The PufferLib driver (the trainer protocol on ``pufferl.PuffeRL``), read top to bottom:

- ``build``: import PufferLib safely, seed, make the env and the policy (PufferLib's load_env/load_policy);
- ``train``: the evaluate()/train() loop, metrics lines, checkpoints (final and best), the summary;
- ``evaluate``: held-out evaluation episodes;
- ``__main__``: ``python -m autopilot.trainers.puffer --run-dir DIR``.
"""
