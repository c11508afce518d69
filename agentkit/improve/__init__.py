"""Improve your agent: the owner's loop.

What people asked and what the agent answered (`log`), their thumbs up or down (`feedback`),
answers the owner wrote that take precedence over the model (`curated`, `matching`), and the
figures and gaps built from the log (`stats`, `gaps`, `report`).
"""
