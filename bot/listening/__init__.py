"""Listening: the digest of followers' posts, our own posts for the link-love ratio, public feeds."""
