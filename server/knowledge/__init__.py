"""The household's documents: extraction, chunking, hybrid search (FTS5 BM25 + sqlite-vec), access control.

``DocumentStore`` (``store.py``) is the one way in: every search, listing and removal takes the
user it runs for and filters in SQL, so a chunk a user may not see is never read out of the
database for them. See docs/knowledge.md.
"""
