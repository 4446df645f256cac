"""The dialects spikec defines."""
