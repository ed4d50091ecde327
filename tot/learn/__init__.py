"""Learning a state value from the engine's own verified searches (`tot learn`).

- `labels`: what a finished search proves about its states (no exact solver involved);
- `features`: the model's hidden states for a state's value prompt;
- `head`: a small calibrated head in numpy; `train`: choosing one on held-out states;
- `valuefile`: the value file, data only; `valuer`: the `learned` valuer searches use;
- `run`: generations of searches, features and heads, resumable like `tot bench`.
"""
