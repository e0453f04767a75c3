"""Records, configuration and storage shared by the Space (`leaderboard/`) and the evaluator (`evaluator/`)."""
