// /readyz reuses a store check's answer for a second (src/transport/health.ts): a test that changes
// the store's health polls for the status it expects instead of reading the next answer.

/** The status `${httpUrl}/readyz` answers once it equals `status`, or the last one after `withinMs`. */
export async function readyzSettles(httpUrl: string, status: number, withinMs = 2500): Promise<number> {
  const readyz = async () => (await fetch(`${httpUrl}/readyz`)).status;
  const deadline = Date.now() + withinMs;
  let last = await readyz();
  while (last !== status && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    last = await readyz();
  }
  return last;
}
