// The one timeout of the extension: wait for a promise at most `ms`, then go on without it.

/** `p`'s value, or `undefined` once `ms` have passed first; the timer never keeps pi alive. */
export function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
	let timer: ReturnType<typeof setTimeout> | undefined;
	const timeout = new Promise<undefined>((resolve) => {
		timer = setTimeout(() => resolve(undefined), ms);
		timer.unref?.();
	});
	return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
