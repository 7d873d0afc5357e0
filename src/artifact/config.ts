/**
 * The config blob of a Flux artifact. `flux push artifact` builds it from an empty image config
 * (go-containerregistry's ConfigFile) with the created time set; we write the same JSON shape
 * so that tools which parse it as an image config (crane config, flux) read it without surprise.
 */
export function artifactConfig(created: string): Buffer {
  const config = {
    architecture: '',
    created,
    os: '',
    rootfs: { type: 'layers', diff_ids: null },
    config: {},
  };
  return Buffer.from(JSON.stringify(config));
}

/** RFC 3339 time in UTC without fractional seconds, as Flux writes `org.opencontainers.image.created`. */
export function rfc3339(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
