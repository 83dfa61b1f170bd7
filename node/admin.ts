/**
 * Who may run admin operations, for both protocols a node speaks: the mode
 * its tokens give, and the loopback check of protected mode.
 */
import { BlockList, isIP } from "node:net";

/**
 * Who may run admin operations (HTTP `PUT _peers` and `DELETE _purge`, the
 * Redis protocol's `BURROW.PURGE`): what changes a node's state without
 * being a client's write. Decided once from the node's options:
 * - `admin-token`: only the admin credential (adminToken set);
 * - `auth-token`: any authenticated caller (only authToken set; what
 *   deployments with one token have always had);
 * - `loopback`: no token at all, so only callers on this machine
 *   (protected mode, as Redis's);
 * - `open`: no token and openAdmin: anyone who reaches the port.
 */
export type AdminMode = "admin-token" | "auth-token" | "loopback" | "open";

export function adminModeOf(options: {
  authToken?: string;
  adminToken?: string;
  openAdmin?: boolean;
}): AdminMode {
  if (options.adminToken) return "admin-token";
  if (options.authToken) return "auth-token";
  return options.openAdmin ? "open" : "loopback";
}

/** Why a non-loopback caller is refused an admin operation in protected mode. */
export const PROTECTED_MODE_MESSAGE =
  "admin operations (PUT _peers, purges) are accepted only from loopback while the node has no token: start it with --admin-token (adminToken), or --open-admin (openAdmin) to accept them from any address";

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet("127.0.0.0", 8, "ipv4");
LOOPBACK.addAddress("::1", "ipv6");

/**
 * True for an address of this machine's loopback: 127.0.0.0/8 and ::1, in
 * any spelling (`0:0:0:0:0:0:0:1`, IPv4-mapped `::ffff:127.0.0.1`). Anything
 * else, an unparsable or missing address included, is false.
 */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false;
  const family = isIP(address);
  if (family === 0) return false;
  return LOOPBACK.check(address, family === 6 ? "ipv6" : "ipv4");
}
