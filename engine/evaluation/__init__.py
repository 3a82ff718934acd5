"""The evaluation: how well the bot answers (dev and held-out questions), measured without a human judge.

Pure Python (no Django, no model): `manage.py eval_answers` runs the questions through the real
pipeline (`manage.py ask` output) and hands the answers here.

- `questions`: the questions file (`tests/eval/questions.jsonl`), its conventions and its loader;
- `scoring`: one verdict per answer, then the run's figures (interception, facts, handoffs, echoes, latency),
  per store and split;
- `routing`: where the router sends real labelled shopper questions, per intent;
- `report`: both as plain text.
"""
