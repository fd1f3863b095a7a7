"""Julia's voice: how she writes money and pay in pt-BR, and the checks every text to a
doctor passes (replies, openers, templates)."""
