export { LadingError, UsageError } from './errors.js';
