// Readiness computed like kstatus: kind-specific rules for the workload kinds, then the generic
// Ready / Reconciling / Stalled conditions and observedGeneration for everything else.
import type { KubeObject } from './objects.js';
import { isRecord } from './util.js';

export type ReadinessStatus = 'Current' | 'InProgress' | 'Failed' | 'Terminating' | 'NotFound';

export interface Readiness {
  status: ReadinessStatus;
  message: string;
}

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

function rec(v: unknown): Record<string, unknown> {
  return isRecord(v) ? v : {};
}

function num(v: unknown, fallback = 0): number {
  return typeof v === 'number' ? v : fallback;
}

function conditionsOf(status: Record<string, unknown>): Condition[] {
  const c = status['conditions'];
  if (!Array.isArray(c)) return [];
  return c.filter(isRecord).map((x) => ({
    type: String(x['type'] ?? ''),
    status: String(x['status'] ?? ''),
    ...(typeof x['reason'] === 'string' ? { reason: x['reason'] } : {}),
    ...(typeof x['message'] === 'string' ? { message: x['message'] } : {}),
  }));
}

function condition(status: Record<string, unknown>, type: string): Condition | undefined {
  return conditionsOf(status).find((c) => c.type === type);
}

const current = (message = 'Resource is current'): Readiness => ({ status: 'Current', message });
const inProgress = (message: string): Readiness => ({ status: 'InProgress', message });
const failed = (message: string): Readiness => ({ status: 'Failed', message });

/** Computes the readiness of a live object (undefined = it does not exist). */
export function computeReadiness(obj: KubeObject | undefined): Readiness {
  if (!obj) return { status: 'NotFound', message: 'Resource not found' };
  const meta = rec(obj['metadata']);
  if (typeof meta['deletionTimestamp'] === 'string') return { status: 'Terminating', message: 'Resource scheduled for deletion' };
  const status = rec(obj['status']);
  const generation = meta['generation'];
  const observed = status['observedGeneration'];
  if (typeof generation === 'number' && typeof observed === 'number' && observed < generation) {
    return inProgress(`Waiting for the controller to observe generation ${generation} (observed ${observed})`);
  }
  const kind = String(obj['kind'] ?? '');
  const group = String(obj['apiVersion'] ?? '').includes('/') ? String(obj['apiVersion']).split('/')[0] : '';
  const spec = rec(obj['spec']);
  switch (`${group}/${kind}`) {
    case 'apps/Deployment':
      return deploymentReadiness(spec, status, typeof generation === 'number' && observed === undefined);
    case 'apps/StatefulSet':
      return statefulSetReadiness(spec, status, typeof generation === 'number' && observed === undefined);
    case 'apps/DaemonSet':
      return daemonSetReadiness(status, typeof generation === 'number' && observed === undefined);
    case 'apps/ReplicaSet':
      return replicaSetReadiness(spec, status);
    case 'batch/Job':
      return jobReadiness(spec, status);
    case '/Pod':
      return podReadiness(status);
    case '/PersistentVolumeClaim':
      return status['phase'] === 'Bound' ? current('PVC is Bound') : inProgress(`PVC is ${String(status['phase'] ?? 'not Bound')}`);
    case '/Service':
      return serviceReadiness(spec, status);
    case '/Namespace':
      return status['phase'] === 'Terminating' ? { status: 'Terminating', message: 'Namespace is terminating' } : current('Namespace is Active');
    case 'apiextensions.k8s.io/CustomResourceDefinition':
      return crdReadiness(status);
    default:
      return genericReadiness(status);
  }
}

/** Generic objects: Stalled → Failed, Reconciling → InProgress, Ready=False → InProgress. */
export function genericReadiness(status: Record<string, unknown>): Readiness {
  const stalled = condition(status, 'Stalled');
  if (stalled?.status === 'True') return failed(stalled.message ?? stalled.reason ?? 'Stalled');
  const reconciling = condition(status, 'Reconciling');
  if (reconciling?.status === 'True') return inProgress(reconciling.message ?? reconciling.reason ?? 'Reconciling');
  const ready = condition(status, 'Ready');
  if (ready && ready.status !== 'True') return inProgress(ready.message ?? ready.reason ?? 'Not Ready');
  return current(ready ? ready.message ?? 'Ready' : 'Resource is current');
}

function deploymentReadiness(spec: Record<string, unknown>, status: Record<string, unknown>, notObserved: boolean): Readiness {
  if (notObserved) return inProgress('Deployment not yet observed by the controller');
  const progressing = condition(status, 'Progressing');
  if (progressing?.reason === 'ProgressDeadlineExceeded') return failed(`Progress deadline exceeded: ${progressing.message ?? ''}`.trim());
  const replicas = num(spec['replicas'], 1);
  const updated = num(status['updatedReplicas']);
  const total = num(status['replicas']);
  const ready = num(status['readyReplicas']);
  const available = num(status['availableReplicas']);
  if (spec['paused'] === true) return inProgress('Deployment is paused');
  if (updated < replicas) return inProgress(`Updated: ${updated}/${replicas}`);
  if (total > updated) return inProgress(`Pending termination: ${total - updated}`);
  if (available < updated) return inProgress(`Available: ${available}/${updated}`);
  if (ready < updated) return inProgress(`Ready: ${ready}/${updated}`);
  const availableCond = condition(status, 'Available');
  if (availableCond && availableCond.status !== 'True') return inProgress('Deployment not Available');
  return current(`Deployment is available. Replicas: ${total}`);
}

function statefulSetReadiness(spec: Record<string, unknown>, status: Record<string, unknown>, notObserved: boolean): Readiness {
  if (notObserved) return inProgress('StatefulSet not yet observed by the controller');
  const replicas = num(spec['replicas'], 1);
  const ready = num(status['readyReplicas']);
  const currentReplicas = num(status['currentReplicas']);
  const strategy = rec(spec['updateStrategy']);
  if (num(status['replicas']) < replicas) return inProgress(`Replicas: ${num(status['replicas'])}/${replicas}`);
  if (ready < replicas) return inProgress(`Ready: ${ready}/${replicas}`);
  if (strategy['type'] === 'OnDelete') return current(`StatefulSet is ready. Replicas: ${ready}`);
  const partition = num(rec(strategy['rollingUpdate'])['partition']);
  if (partition > 0) {
    const updated = num(status['updatedReplicas']);
    if (updated < replicas - partition) return inProgress(`Updated: ${updated}/${replicas - partition} (partition ${partition})`);
    return current(`Partitioned roll out complete. Updated: ${updated}`);
  }
  if (status['updateRevision'] !== undefined && status['currentRevision'] !== status['updateRevision']) {
    return inProgress(`Waiting for the roll out to finish: ${num(status['updatedReplicas'])}/${replicas} updated`);
  }
  if (currentReplicas < replicas && status['currentReplicas'] !== undefined) return inProgress(`Current: ${currentReplicas}/${replicas}`);
  return current(`StatefulSet is ready. Replicas: ${ready}`);
}

function daemonSetReadiness(status: Record<string, unknown>, notObserved: boolean): Readiness {
  if (notObserved) return inProgress('DaemonSet not yet observed by the controller');
  const desired = num(status['desiredNumberScheduled'], -1);
  if (desired < 0) return inProgress('Missing .status.desiredNumberScheduled');
  const scheduled = num(status['currentNumberScheduled']);
  const updated = num(status['updatedNumberScheduled']);
  const available = num(status['numberAvailable']);
  const ready = num(status['numberReady']);
  if (scheduled < desired) return inProgress(`Scheduled: ${scheduled}/${desired}`);
  if (updated < desired) return inProgress(`Updated: ${updated}/${desired}`);
  if (available < desired) return inProgress(`Available: ${available}/${desired}`);
  if (ready < desired) return inProgress(`Ready: ${ready}/${desired}`);
  return current(`All replicas scheduled as expected. Replicas: ${desired}`);
}

function replicaSetReadiness(spec: Record<string, unknown>, status: Record<string, unknown>): Readiness {
  const failure = condition(status, 'ReplicaFailure');
  if (failure?.status === 'True') return inProgress(`Replica failure: ${failure.message ?? failure.reason ?? ''}`.trim());
  const replicas = num(spec['replicas'], 1);
  const ready = num(status['readyReplicas']);
  const available = num(status['availableReplicas']);
  const labelled = num(status['fullyLabeledReplicas']);
  if (labelled < replicas) return inProgress(`Labelled: ${labelled}/${replicas}`);
  if (available < replicas) return inProgress(`Available: ${available}/${replicas}`);
  if (ready < replicas) return inProgress(`Ready: ${ready}/${replicas}`);
  return current(`ReplicaSet is available. Replicas: ${replicas}`);
}

function jobReadiness(spec: Record<string, unknown>, status: Record<string, unknown>): Readiness {
  const failedCond = condition(status, 'Failed');
  if (failedCond?.status === 'True') return failed(`Job failed: ${failedCond.message ?? failedCond.reason ?? ''}`.trim());
  const complete = condition(status, 'Complete');
  if (complete?.status === 'True') return current(`Job completed. Succeeded: ${num(status['succeeded'])}/${num(spec['completions'], 1)}`);
  if (status['startTime'] === undefined) return inProgress('Job not started');
  return inProgress(`Job in progress. Active: ${num(status['active'])}, succeeded: ${num(status['succeeded'])}, failed: ${num(status['failed'])}`);
}

function podReadiness(status: Record<string, unknown>): Readiness {
  const phase = String(status['phase'] ?? 'Pending');
  if (phase === 'Succeeded') return current('Pod has completed successfully');
  if (phase === 'Failed') return failed(`Pod has failed: ${String(status['message'] ?? status['reason'] ?? '')}`.trim());
  const statuses = Array.isArray(status['containerStatuses']) ? (status['containerStatuses'] as unknown[]).filter(isRecord) : [];
  for (const cs of statuses) {
    const waiting = rec(rec(cs['state'])['waiting']);
    const reason = waiting['reason'];
    if (reason === 'CrashLoopBackOff' || reason === 'ImagePullBackOff' || reason === 'ErrImagePull' || reason === 'CreateContainerConfigError' || reason === 'InvalidImageName') {
      return inProgress(`Container ${String(cs['name'])}: ${reason}`);
    }
  }
  const ready = condition(status, 'Ready');
  if (phase === 'Running' && ready?.status === 'True') return current('Pod is Ready');
  const scheduled = condition(status, 'PodScheduled');
  if (scheduled?.status === 'False') return inProgress(`Pod not scheduled: ${scheduled.message ?? scheduled.reason ?? ''}`.trim());
  return inProgress(`Pod is ${phase}${ready ? ', not Ready' : ''}`);
}

function serviceReadiness(spec: Record<string, unknown>, status: Record<string, unknown>): Readiness {
  if (spec['type'] === 'LoadBalancer') {
    const ingress = rec(status['loadBalancer'])['ingress'];
    if (!Array.isArray(ingress) || ingress.length === 0) return inProgress('Waiting for the load balancer');
  }
  return current('Service is ready');
}

function crdReadiness(status: Record<string, unknown>): Readiness {
  const names = condition(status, 'NamesAccepted');
  if (names?.status === 'False') return failed(`CRD names not accepted: ${names.message ?? names.reason ?? ''}`.trim());
  const established = condition(status, 'Established');
  if (established?.status === 'True') return current('CRD is established');
  return inProgress('CRD is not established yet');
}
