"""Scale-out on Hugging Face Jobs: the Space dispatches one Job per pending request (`[workers] mode = "jobs"`).

`plan` decides (pure, clock handed in), `hub` talks to the Jobs API through `huggingface_hub`, `dispatcher`
runs one scheduler tick with both, and `status` is what the Queue and About pages show.
"""
