// Public surface of signing: cosign-compatible keys, signatures, attestations and verification.
export { SignError, isSignError, type SignErrorCode } from './errors.js';
export {
  generateKeyPair,
  loadPrivateKey,
  loadPublicKey,
  parsePrivateKey,
  parsePublicKey,
  resolvePassword,
  encryptPrivateKey,
  SIGSTORE_PRIVATE_KEY_PEM,
  COSIGN_PRIVATE_KEY_PEM,
  type GenerateKeyPairOptions,
  type GenerateKeyPairResult,
  type KeyAlgorithm,
  type LoadPrivateKeyOptions,
  type PasswordOptions,
  type SigningKey,
  type VerificationKey,
} from './keys.js';
export { sign, attest, DEFAULT_SIGNATURE_FORMAT, type SignOptions, type SignResult, type SignedEntry, type SignatureFormat, type AttestOptions, type AttestResult } from './sign.js';
export {
  verify,
  verifyAttestation,
  verifyArtifact,
  type VerifyOptions,
  type VerifyResult,
  type VerifiedSignature,
  type RejectedSignature,
  type VerifyAttestationOptions,
  type VerifyAttestationResult,
  type VerifiedAttestation,
  type VerifyArtifactOptions,
} from './verify.js';
export { tree, type TreeOptions, type TreeResult, type TreeAttachment, type TreeReferrer, type TreeLayer } from './tree.js';
export {
  PREDICATE_TYPES,
  predicateTypeURI,
  SIMPLE_SIGNING_MEDIA_TYPE,
  DSSE_MEDIA_TYPE,
  INTOTO_PAYLOAD_TYPE,
  BUNDLE_MEDIA_TYPE,
  SIGNATURE_ANNOTATION,
  COSIGN_SIGN_PREDICATE_TYPE,
  type SimpleSigningPayload,
  type Statement,
  type DsseEnvelope,
  type SigstoreBundle,
} from './formats.js';
export { attachmentTag, MAX_SIGNATURE_LAYERS } from './attached.js';
export { parseAnnotations, type TargetOptions } from './target.js';
