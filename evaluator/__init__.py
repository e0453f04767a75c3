"""The evaluator: measures WER and RTF at batch size one, on the configured eval sets, under the config's rules."""
