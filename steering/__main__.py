"""``python -m steering``: the main job. Until the offline demo lands, say what the real run needs."""

REAL_RUN = """The real experiment needs a GPU, the Hugging Face hub (gemma-2-2b-it, Gemma Scope) and an OpenAI key:

  inspect eval evals/french.py --model steered/google/gemma-2-2b-it --model-role grader=openai/gpt-4o-mini
"""

if __name__ == "__main__":
    print(REAL_RUN)
