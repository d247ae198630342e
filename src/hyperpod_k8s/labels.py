"""Names of the labels, annotations and taints hpk8s sets or reads on Kubernetes objects."""

# HyperPod's own convention keeps the ml. prefix: node.kubernetes.io/instance-type=ml.p5.48xlarge
INSTANCE_TYPE = "node.kubernetes.io/instance-type"
# A prefix this project owns, for what Kubernetes has no well-known label for.
PREFIX = "hyperpod-k8s"
INSTANCE_GROUP = f"{PREFIX}/instance-group"
INSTANCE_ID = f"{PREFIX}/instance-id"
CONTROL_PLANE = "node-role.kubernetes.io/control-plane"
# Who cordoned a node, why and when (set by the workflows).
CORDONED_BY = f"{PREFIX}/cordoned-by"
CORDON_REASON = f"{PREFIX}/cordon-reason"
CORDONED_AT = f"{PREFIX}/cordoned-at"
MIRROR_POD = "kubernetes.io/config.mirror"
