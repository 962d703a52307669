// The receiver side (SSF 1.0 as a receiver, RFC 8935 push to the broker): filled in below.
import type { RequestHandler } from "express";

export interface ReceiverRoutes { handler: RequestHandler }
