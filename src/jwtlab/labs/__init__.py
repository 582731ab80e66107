"""The labs: manifest (`labs/labs.toml`), starter generator, check runner and the learner's progress."""
