"""What Julia remembers about each doctor: facts with optional embeddings for retrieval."""
