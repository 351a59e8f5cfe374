// A node whose shapes cannot be inferred (reported per node as status 'failed', never thrown to the user).
export class InferenceError extends Error {}
