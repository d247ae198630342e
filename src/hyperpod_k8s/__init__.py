"""hpk8s: a self-managed Kubernetes cluster on Amazon SageMaker HyperPod."""

__version__ = "0.1.0"
