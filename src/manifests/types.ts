/** A Kubernetes object as plain data (the parsed YAML document). */
export type KubeObject = Record<string, unknown>;

export interface BuildOptions {
  /** Extra kustomization files carrying `patches` (and legacy patch fields), applied on top. */
  patches?: string[];
  signal?: AbortSignal;
}

export interface BuildResult {
  /** The build output, byte-identical to `kubectl kustomize` for supported features. */
  yaml: string;
  /** The built objects, in output order. */
  resources: KubeObject[];
  /** kustomize's deprecation warnings (same text), for the CLI to print on stderr. */
  warnings: string[];
}
