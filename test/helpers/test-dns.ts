/**
 * A real DNS server for tests, on 127.0.0.1 (UDP, a port the system picks):
 * it answers A and AAAA questions from records the test changes while it
 * runs (TTL 0, so every lookup sees them as they are), NXDOMAIN for names
 * it does not know, and can be told to stop answering.
 */
import type { AddressInfo } from "node:net";
import dns2, { type DnsHandler, type UDPServer } from "dns2";

const { Packet } = dns2;

export /** A DNS server for the tests: names -> A and AAAA records; unknown names answer NXDOMAIN. */
interface TestDns {
  port: number;
  server: string;
  /** name -> its records; a name present with no records answers NOERROR with no answers (NODATA). */
  records: Map<string, { a: string[]; aaaa: string[] }>;
  /** While true, questions are dropped unanswered (all of them, or only AAAA questions). */
  quiet: "no" | "all" | "aaaa";
  /** Questions received so far. */
  questions: () => number;
  close: () => Promise<void>;
}

export async function startTestDns(): Promise<TestDns> {
  let questions = 0;
  const dns: TestDns = {
    port: 0,
    server: "",
    records: new Map(),
    quiet: "no",
    questions: () => questions,
    close: () => new Promise<void>((resolve) => udp.close(() => resolve())),
  };
  const handle: DnsHandler = (request, send) => {
    questions++;
    const question = request.questions[0];
    if (question === undefined) return;
    if (dns.quiet === "all" || (dns.quiet === "aaaa" && question.type === Packet.TYPE.AAAA)) return;
    const response = Packet.createResponseFromRequest(request);
    const entry = dns.records.get(question.name.toLowerCase());
    if (entry === undefined) {
      response.header.rcode = 3; // NXDOMAIN
    } else {
      const wanted =
        question.type === Packet.TYPE.A ? entry.a : question.type === Packet.TYPE.AAAA ? entry.aaaa : [];
      for (const address of wanted) {
        // TTL 0: every lookup sees the records as they are now.
        response.answers.push(Packet.createResourceFromQuestion(question, { ttl: 0, address }));
      }
    }
    void send(response);
  };
  const udp: UDPServer = dns2.createUDPServer(handle);
  await udp.listen(0, "127.0.0.1");
  dns.port = (udp.address() as AddressInfo).port;
  dns.server = `127.0.0.1:${dns.port}`;
  return dns;
}
