"""Views: a search read back for people, from MLflow and the study alone.

``show_and_compare`` (``tuner show``, ``tuner compare``), ``plots`` and ``trials_table``
(the pictures and table on a search's parent run), ``studies`` (``tuner study status``
and ``list``, which import no MLflow, scikit-learn or TensorFlow), ``numbers`` (metric values
as every view shows them: finite, or missing).

May import: engines, search, tracking, and the modules at tuner's top.
"""
