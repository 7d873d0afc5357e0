import { DIGEST_SYNTAX } from './digest.js';
import { OciError } from './errors.js';
import { redactCredentials } from '../redact.js';

/** A parsed, normalised image reference (docker/crane rules). */
export interface Reference {
  /** Registry host with optional port, e.g. `index.docker.io`, `localhost:5000`, `[::1]:5000`. */
  registry: string;
  /** Repository path, e.g. `library/nginx`. */
  repository: string;
  tag?: string;
  digest?: string;
  /** `registry/repository`. */
  name: string;
  /** What to resolve: the digest if there is one, else the tag, else `latest`. */
  reference: string;
  toString(): string;
}

export const DEFAULT_REGISTRY = 'index.docker.io';
export const DEFAULT_TAG = 'latest';

const maxNameLength = 255;

/** A tag (distribution spec). */
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
/** A label of a registry host name. */
const HOST_LABEL = /^(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])$/;
/** A repository path component: lowercase letters and digits, separated by ".", "_", "__" or any number of "-". */
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const SHA256_HEX = /^[a-f0-9]{64}$/;
const SHA512_HEX = /^[a-f0-9]{128}$/;
const PORT = /^[0-9]{1,5}$/;
/** `user:password@` (or `user@`) after a scheme or at the start of a reference. */
const USERINFO = /^((?:[a-z][a-z0-9+.-]*:\/\/)?)([^@/\s]*)@(?=[^/\s]*\/)/i;


function invalid(input: string, why: string): OciError {
  return new OciError('INVALID_REFERENCE', `invalid reference "${redactCredentials(input)}": ${why}`);
}

/** A host name with a dot, localhost or an IP address: what a registry host looks like. */
function looksLikeHost(text: string): boolean {
  return text === 'localhost' || text.startsWith('[') || (text.includes('.') && text.split('.').every((label) => HOST_LABEL.test(label)));
}

function looksLikeRegistry(component: string): boolean {
  return component.includes('.') || component.includes(':') || component === 'localhost' || component.startsWith('[') || component !== component.toLowerCase();
}

function validateRegistry(input: string, registry: string): void {
  let host = registry;
  let port: string | undefined;
  if (registry.startsWith('[')) {
    const end = registry.indexOf(']');
    if (end < 0) throw invalid(input, `registry "${registry}" has an unterminated IPv6 address`);
    host = registry.slice(1, end);
    const rest = registry.slice(end + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) throw invalid(input, `registry "${registry}" is malformed`);
      port = rest.slice(1);
    }
    if (!/^[0-9a-fA-F:.]+$/.test(host) || !host.includes(':')) throw invalid(input, `registry "${registry}" has an invalid IPv6 address`);
  } else {
    const colon = registry.lastIndexOf(':');
    if (colon >= 0) {
      host = registry.slice(0, colon);
      port = registry.slice(colon + 1);
    }
    if (host === '') throw invalid(input, 'empty registry host');
    for (const part of host.split('.')) {
      if (!HOST_LABEL.test(part)) throw invalid(input, `registry host "${host}" is not a valid host name`);
    }
  }
  if (port !== undefined && (!PORT.test(port) || Number(port) > 65535 || Number(port) === 0)) {
    throw invalid(input, `registry port "${port}" is not a number between 1 and 65535`);
  }
}

/**
 * Parses `[oci://][registry[:port]/]repository[:tag][@digest]`, normalising like docker:
 * `nginx` → `index.docker.io/library/nginx:latest`, `docker.io/x` → `index.docker.io/x`.
 */
export function parseReference(input: string): Reference {
  if (typeof input !== 'string' || input.trim() === '') throw invalid(String(input), 'empty reference');
  let rest = input.trim();
  if (rest.startsWith('oci://')) rest = rest.slice('oci://'.length);
  if (/^[a-z]+:\/\//i.test(rest)) throw invalid(input, 'only the oci:// scheme is supported');
  if (/\s/.test(rest)) throw invalid(input, 'contains whitespace');
  // An "@" before the first "/" is not a digest's (digests follow the repository): user info.
  if (USERINFO.test(rest)) {
    throw new OciError('INVALID_REFERENCE', `invalid reference "${input.trim().replace(/^((?:[a-z][a-z0-9+.-]*:\/\/)?)[^@/\s]*@/i, '$1***@')}": credentials in a reference are not supported: run \`lading login\` or give --creds`);
  }

  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_SYNTAX.test(digest)) throw invalid(input, `"${digest}" is not a digest (expected sha256:<hex>)`);
    const [algorithm, hex] = digest.split(':') as [string, string];
    if (algorithm === 'sha256' && !SHA256_HEX.test(hex)) throw invalid(input, 'a sha256 digest has 64 lower-case hex characters');
    if (algorithm === 'sha512' && !SHA512_HEX.test(hex)) throw invalid(input, 'a sha512 digest has 128 lower-case hex characters');
    if (algorithm !== 'sha256' && algorithm !== 'sha512') throw invalid(input, `unsupported digest algorithm "${algorithm}"`);
  }

  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const lastColon = rest.lastIndexOf(':');
  if (lastSlash < 0 && lastColon > 0 && /^[0-9]+$/.test(rest.slice(lastColon + 1)) && looksLikeHost(rest.slice(0, lastColon))) {
    // `127.0.0.1:35123` or `registry.example:5000` is a registry, not a Docker Hub image.
    throw invalid(input, `"${rest}" names a registry but no repository (write ${rest}/REPOSITORY[:TAG])`);
  }
  if (lastColon > lastSlash && !(lastSlash < 0 && rest.startsWith('['))) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG.test(tag)) {
      throw invalid(input, `tag "${tag}" is invalid (letters, digits, "_", "." and "-", not starting with "." or "-", at most 128 characters)`);
    }
  }

  if (rest === '') throw invalid(input, 'missing repository name');
  let registry = DEFAULT_REGISTRY;
  let repository = rest;
  const firstSlash = rest.indexOf('/');
  if (firstSlash >= 0 && looksLikeRegistry(rest.slice(0, firstSlash))) {
    registry = rest.slice(0, firstSlash);
    repository = rest.slice(firstSlash + 1);
    validateRegistry(input, registry);
    if (registry === 'docker.io' || registry === 'registry-1.docker.io') registry = DEFAULT_REGISTRY;
  } else if (firstSlash < 0 && rest.includes(':')) {
    throw invalid(input, 'missing repository name after the registry');
  }
  if (repository === '') throw invalid(input, 'missing repository name after the registry');
  if (registry === DEFAULT_REGISTRY && !repository.includes('/')) repository = `library/${repository}`;
  for (const component of repository.split('/')) {
    if (component === '') throw invalid(input, 'repository has an empty path component');
    if (component !== component.toLowerCase()) throw invalid(input, `repository name must be lowercase ("${component}")`);
    if (!PATH_COMPONENT.test(component)) {
      throw invalid(input, `repository path component "${component}" is invalid (lowercase letters, digits and single separators ".", "_", "__" or "-")`);
    }
  }
  const name = `${registry}/${repository}`;
  if (name.length > maxNameLength) throw invalid(input, `repository name is longer than ${maxNameLength} characters`);

  return makeReference(registry, repository, tag, digest);
}

/** Builds a Reference from parts (already validated). */
export function makeReference(registry: string, repository: string, tag?: string, digest?: string): Reference {
  const name = `${registry}/${repository}`;
  const ref: Reference = {
    registry,
    repository,
    name,
    reference: digest ?? tag ?? DEFAULT_TAG,
    toString() {
      if (tag === undefined && digest === undefined) return `${name}:${DEFAULT_TAG}`;
      return `${name}${tag !== undefined ? `:${tag}` : ''}${digest !== undefined ? `@${digest}` : ''}`;
    },
  };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** The same repository with a different tag or digest. */
export function withReference(ref: Reference, reference: string): Reference {
  return reference.includes(':') ? makeReference(ref.registry, ref.repository, undefined, reference) : makeReference(ref.registry, ref.repository, reference);
}

/** Whether a tag is valid in the OCI distribution spec. */
export function isValidTag(tag: string): boolean {
  return TAG.test(tag);
}

/** Whether a registry host should be reached without TLS by default (loopback). */
export function isLoopbackRegistry(registry: string): boolean {
  const m = /^(?:\[([^\]]*)\]|([^:]*))(?::[0-9]+)?$/.exec(registry);
  const host = (m?.[1] ?? m?.[2] ?? registry).toLowerCase();
  return host === 'localhost' || host.endsWith('.localhost') || host === '::1' || /^127\.[0-9]+\.[0-9]+\.[0-9]+$/.test(host);
}
