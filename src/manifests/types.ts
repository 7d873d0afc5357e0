/** A Kubernetes object as plain data (the parsed YAML document). */
export type KubeObject = Record<string, unknown>;

export interface BuildOptions {
  /** Extra kustomization files carrying `patches` (and legacy patch fields), applied on top. */
  patches?: string[];
  signal?: AbortSignal;
  /**
   * A directory the build may not leave: every directory it enters (bases and components, which
   * kustomize lets a kustomization take from beside or above it) must really be in or below this
   * one, symlinks resolved. Files are always confined to the directory of the kustomization that
   * names them, as kustomize confines them. Use it for trees that are not trusted, such as a
   * pulled artifact.
   */
  boundary?: string;
}

export interface BuildResult {
  /** The build output, byte-identical to `kubectl kustomize` for supported features. */
  yaml: string;
  /** The built objects, in output order. */
  resources: KubeObject[];
  /** kustomize's deprecation warnings (same text), for the CLI to print on stderr. */
  warnings: string[];
}
