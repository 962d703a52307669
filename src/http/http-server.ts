// The broker's HTTP server. Requests and responses are created with Express's own prototypes (app.request,
// app.response) from the start: Express re-parents every req and res it handles (Object.setPrototypeOf in
// app.handle), and V8 pays for re-parenting an object with a map transition and short-lived garbage —
// measured under steady load as young-generation collections of 4–11 ms every few hundred ms, on every
// route (GET /healthz included). An object that already has the prototype is left as it is, so the cost goes.
// Node constructs them with `new` (http.createServer's IncomingMessage / ServerResponse options); both of
// Node's constructors are plain functions, called here on the new object.
import { createServer, IncomingMessage, ServerResponse, type Server } from "node:http";
import type { Socket } from "node:net";
import type { Express } from "express";

export function createHttpServer(app: Express): Server {
  function BrokerRequest(this: IncomingMessage, socket: Socket) {
    IncomingMessage.call(this, socket);
  }
  BrokerRequest.prototype = app.request;
  function BrokerResponse(this: ServerResponse, req: IncomingMessage, options?: unknown) {
    (ServerResponse as unknown as (this: ServerResponse, req: IncomingMessage, options?: unknown) => void).call(this, req, options);
  }
  BrokerResponse.prototype = app.response;
  return createServer({
    IncomingMessage: BrokerRequest as unknown as typeof IncomingMessage,
    ServerResponse: BrokerResponse as unknown as typeof ServerResponse,
  }, app);
}
