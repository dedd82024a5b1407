"""Pure numpy/torch core of omnimotion-pipeline: metrics, synthetic benchmark, flow, model.

Nothing in this package knows about Prefect, MLflow or file paths; it takes arrays and returns arrays.
"""
