"""The promotion rules as a pure planner: environment state in, the change to make out."""
