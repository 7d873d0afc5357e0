// Field specs ("group/version/Kind:path", "!" = create when missing) of kustomize v5.5's
// built-in transformer configuration.

/** commonLabels and labels with includeSelectors: metadata, selectors and pod templates. */
export const COMMON_LABEL_FIELDS: readonly string[] = [
  '/v1/Service:spec/selector!',
  '/v1/ReplicationController:spec/selector!',
  '//Deployment:spec/selector/matchLabels!',
  'apps//Deployment:spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels',
  'apps//Deployment:spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels',
  'apps//Deployment:spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels',
  'apps//Deployment:spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels',
  'apps//Deployment:spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels',
  '//ReplicaSet:spec/selector/matchLabels!',
  '//DaemonSet:spec/selector/matchLabels!',
  'apps//StatefulSet:spec/selector/matchLabels!',
  'apps//StatefulSet:spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels',
  'apps//StatefulSet:spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels',
  'apps//StatefulSet:spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels',
  'apps//StatefulSet:spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels',
  'apps//StatefulSet:spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels',
  'batch//Job:spec/selector/matchLabels',
  'batch//CronJob:spec/jobTemplate/spec/selector/matchLabels',
  'policy//PodDisruptionBudget:spec/selector/matchLabels',
  'networking.k8s.io//NetworkPolicy:spec/podSelector/matchLabels',
  'networking.k8s.io//NetworkPolicy:spec/ingress/from/podSelector/matchLabels',
  'networking.k8s.io//NetworkPolicy:spec/egress/to/podSelector/matchLabels',
  '//:metadata/labels!',
  '/v1/ReplicationController:spec/template/metadata/labels!',
  '//Deployment:spec/template/metadata/labels!',
  '//ReplicaSet:spec/template/metadata/labels!',
  '//DaemonSet:spec/template/metadata/labels!',
  'apps//StatefulSet:spec/template/metadata/labels!',
  'apps//StatefulSet:spec/volumeClaimTemplates[]/metadata/labels!',
  'batch//Job:spec/template/metadata/labels!',
  'batch//CronJob:spec/jobTemplate/metadata/labels!',
  'batch//CronJob:spec/jobTemplate/spec/template/metadata/labels!',
];
/** labels with includeTemplates: metadata and pod templates, no selectors. */
export const TEMPLATE_LABEL_FIELDS: readonly string[] = [
  '//:metadata/labels!',
  '/v1/ReplicationController:spec/template/metadata/labels!',
  '//Deployment:spec/template/metadata/labels!',
  '//ReplicaSet:spec/template/metadata/labels!',
  '//DaemonSet:spec/template/metadata/labels!',
  'apps//StatefulSet:spec/template/metadata/labels!',
  'apps//StatefulSet:spec/volumeClaimTemplates[]/metadata/labels!',
  'batch//Job:spec/template/metadata/labels!',
  'batch//CronJob:spec/jobTemplate/metadata/labels!',
  'batch//CronJob:spec/jobTemplate/spec/template/metadata/labels!',
];
/** commonAnnotations. */
export const COMMON_ANNOTATION_FIELDS: readonly string[] = [
  '//:metadata/annotations!',
  '/v1/ReplicationController:spec/template/metadata/annotations!',
  '//Deployment:spec/template/metadata/annotations!',
  '//ReplicaSet:spec/template/metadata/annotations!',
  '//DaemonSet:spec/template/metadata/annotations!',
  '//StatefulSet:spec/template/metadata/annotations!',
  'batch//Job:spec/template/metadata/annotations!',
  'batch//CronJob:spec/jobTemplate/metadata/annotations!',
  'batch//CronJob:spec/jobTemplate/spec/template/metadata/annotations!',
];
/** namespace (metadata/namespace itself is handled separately). */
export const NAMESPACE_FIELDS: readonly string[] = [
  '//Namespace:metadata/name!',
  'apiregistration.k8s.io//APIService:spec/service/namespace!',
  'apiextensions.k8s.io//CustomResourceDefinition:spec/conversion/webhook/clientConfig/service/namespace',
];
/** images. */
export const IMAGE_FIELDS: readonly string[] = [
  '//:spec/containers[]/image!',
  '//:spec/initContainers[]/image!',
  '//:spec/template/spec/containers[]/image!',
  '//:spec/template/spec/initContainers[]/image!',
];
/** replicas. */
export const REPLICA_FIELDS: readonly string[] = [
  '//Deployment:spec/replicas!',
  '//ReplicationController:spec/replicas!',
  '//ReplicaSet:spec/replicas!',
  '//StatefulSet:spec/replicas!',
];

