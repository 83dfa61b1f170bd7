/** The error a promise rejects with; a promise that fulfils fails the test. */
export async function rejection<E = unknown>(promise: Promise<unknown>): Promise<E> {
  try {
    await promise;
  } catch (err) {
    return err as E;
  }
  throw new Error("expected a rejection");
}
