/**
 * The config blob of a Flux artifact, byte for byte what `flux push artifact` writes: an empty
 * go-containerregistry image config whose `created` is Go's zero time (the push time goes in the
 * manifest's `org.opencontainers.image.created` annotation only). Tools that parse it as an image
 * config (crane config, flux) read it without surprise, and every artifact shares the one blob.
 */
export const ZeroCreated = '0001-01-01T00:00:00Z';

export function artifactConfig(): Buffer {
  const config = {
    architecture: '',
    created: ZeroCreated,
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
