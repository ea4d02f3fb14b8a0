"""Inference: batch scoring of every customer with Ray Data, and scores pushed back into Feast."""
