"""What a logged or exported model needs at prediction time, and nothing more.

The modules here import nothing from ``tuner``: they ship inside the MLflow model
(its code file and ``code_paths``) and run where tuner is not installed.

May import: nothing of tuner's.
"""
