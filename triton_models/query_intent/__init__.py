"""``query_intent``: category and language of a search query, fine-tuned from all-MiniLM-L6-v2 with LoRA."""
