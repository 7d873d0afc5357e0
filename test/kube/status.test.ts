import { describe, expect, it } from 'vitest';
import { computeReadiness, type ReadinessStatus } from '../../src/kube/index.js';

type Case = [string, Record<string, unknown> | undefined, ReadinessStatus, RegExp?];

const deploy = (spec: Record<string, unknown>, status: Record<string, unknown>, generation = 1): Record<string, unknown> => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'd', generation },
  spec,
  status: { observedGeneration: 1, ...status },
});

const cases: Case[] = [
  ['missing object', undefined, 'NotFound'],
  ['terminating object', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', deletionTimestamp: '2026-01-01T00:00:00Z' } }, 'Terminating'],
  ['ConfigMap', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } }, 'Current'],
  ['Deployment not observed', { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd', generation: 1 }, spec: {}, status: {} }, 'InProgress', /not yet observed/],
  ['Deployment old generation', deploy({ replicas: 1 }, {}, 2), 'InProgress', /observe generation 2/],
  ['Deployment rolling', deploy({ replicas: 2 }, { replicas: 2, updatedReplicas: 1, readyReplicas: 2, availableReplicas: 2 }), 'InProgress', /Updated: 1\/2/],
  ['Deployment old pods terminating', deploy({ replicas: 1 }, { replicas: 2, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1 }), 'InProgress', /Pending termination/],
  ['Deployment unavailable', deploy({ replicas: 1 }, { replicas: 1, updatedReplicas: 1, readyReplicas: 0, availableReplicas: 0 }), 'InProgress', /Available: 0\/1/],
  ['Deployment available (replicas defaulted)', deploy({}, { replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1, conditions: [{ type: 'Available', status: 'True' }] }), 'Current'],
  ['Deployment deadline exceeded', deploy({ replicas: 1 }, { conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: 'too slow' }] }), 'Failed', /Progress deadline exceeded: too slow/],
  ['StatefulSet ready', { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { generation: 1 }, spec: { replicas: 2 }, status: { observedGeneration: 1, replicas: 2, readyReplicas: 2, currentReplicas: 2, updatedReplicas: 2, currentRevision: 'a', updateRevision: 'a' } }, 'Current'],
  ['StatefulSet rolling', { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { generation: 1 }, spec: { replicas: 2 }, status: { observedGeneration: 1, replicas: 2, readyReplicas: 2, currentReplicas: 1, updatedReplicas: 1, currentRevision: 'a', updateRevision: 'b' } }, 'InProgress'],
  ['DaemonSet scheduling', { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { generation: 1 }, status: { observedGeneration: 1, desiredNumberScheduled: 2, currentNumberScheduled: 1 } }, 'InProgress', /Scheduled: 1\/2/],
  ['DaemonSet ready', { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { generation: 1 }, status: { observedGeneration: 1, desiredNumberScheduled: 2, currentNumberScheduled: 2, updatedNumberScheduled: 2, numberAvailable: 2, numberReady: 2 } }, 'Current'],
  ['ReplicaSet ready', { apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: {}, spec: { replicas: 1 }, status: { fullyLabeledReplicas: 1, availableReplicas: 1, readyReplicas: 1 } }, 'Current'],
  ['Job running', { apiVersion: 'batch/v1', kind: 'Job', metadata: {}, spec: {}, status: { startTime: 'x', active: 1 } }, 'InProgress'],
  ['Job complete', { apiVersion: 'batch/v1', kind: 'Job', metadata: {}, spec: {}, status: { succeeded: 1, conditions: [{ type: 'Complete', status: 'True' }] } }, 'Current'],
  ['Job failed', { apiVersion: 'batch/v1', kind: 'Job', metadata: {}, spec: {}, status: { conditions: [{ type: 'Failed', status: 'True', message: 'BackoffLimitExceeded' }] } }, 'Failed', /BackoffLimitExceeded/],
  ['Pod running and ready', { apiVersion: 'v1', kind: 'Pod', metadata: {}, status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } }, 'Current'],
  ['Pod pulling fails', { apiVersion: 'v1', kind: 'Pod', metadata: {}, status: { phase: 'Pending', containerStatuses: [{ name: 'app', state: { waiting: { reason: 'ImagePullBackOff' } } }] } }, 'InProgress', /app: ImagePullBackOff/],
  ['Pod failed', { apiVersion: 'v1', kind: 'Pod', metadata: {}, status: { phase: 'Failed', message: 'OOMKilled' } }, 'Failed'],
  ['PVC pending', { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: {}, status: { phase: 'Pending' } }, 'InProgress'],
  ['PVC bound', { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: {}, status: { phase: 'Bound' } }, 'Current'],
  ['Service ClusterIP', { apiVersion: 'v1', kind: 'Service', metadata: {}, spec: { type: 'ClusterIP' } }, 'Current'],
  ['Service LoadBalancer pending', { apiVersion: 'v1', kind: 'Service', metadata: {}, spec: { type: 'LoadBalancer' }, status: {} }, 'InProgress', /load balancer/],
  ['CRD established', { apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: {}, status: { conditions: [{ type: 'Established', status: 'True' }] } }, 'Current'],
  ['CRD names rejected', { apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: {}, status: { conditions: [{ type: 'NamesAccepted', status: 'False', message: 'conflict' }] } }, 'Failed'],
  ['Namespace terminating', { apiVersion: 'v1', kind: 'Namespace', metadata: {}, status: { phase: 'Terminating' } }, 'Terminating'],
  ['generic Ready=True', { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { generation: 3 }, status: { observedGeneration: 3, conditions: [{ type: 'Ready', status: 'True' }] } }, 'Current'],
  ['generic Ready=False', { apiVersion: 'example.com/v1', kind: 'Widget', metadata: {}, status: { conditions: [{ type: 'Ready', status: 'False', message: 'waiting for db' }] } }, 'InProgress', /waiting for db/],
  ['generic Reconciling', { apiVersion: 'example.com/v1', kind: 'Widget', metadata: {}, status: { conditions: [{ type: 'Reconciling', status: 'True', reason: 'Progressing' }] } }, 'InProgress'],
  ['generic Stalled', { apiVersion: 'example.com/v1', kind: 'Widget', metadata: {}, status: { conditions: [{ type: 'Stalled', status: 'True', message: 'bad spec' }] } }, 'Failed', /bad spec/],
  ['generic observedGeneration behind', { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { generation: 2 }, status: { observedGeneration: 1 } }, 'InProgress'],
  ['HPA without metrics is not waited for', { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: {}, status: { conditions: [{ type: 'ScalingActive', status: 'False' }] } }, 'Current'],
];

describe('readiness (kstatus rules)', () => {
  it.each(cases)('%s', (_name, obj, status, message) => {
    const r = computeReadiness(obj);
    expect(r.status).toBe(status);
    if (message) expect(r.message).toMatch(message);
  });
});
