// How a TypeScript caller reads leadpool's failures: the gRPC code, and the machine-readable
// reason in google.rpc.ErrorInfo (a leadpool.v1.ErrorReason name), decoded from
// `grpc-status-details-bin` by Connect with the schema generated from proto/vendor.
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "./gen/google/rpc/error_details_pb.js";
import { ErrorReason } from "./gen/leadpool/v1/errors_pb.js";

export interface Refusal {
  code: Code;
  message: string;
  reason: ErrorReason;
  metadata: Record<string, string>;
}

/** The refusal a failed call carries, or the error itself rethrown when it is not leadpool's. */
export function refusal(error: unknown): Refusal {
  const failure = ConnectError.from(error);
  const [info] = failure.findDetails(ErrorInfoSchema);
  if (info === undefined || info.domain !== "leadpool.v1") {
    throw failure;
  }
  // ErrorInfo.reason is the enum value's name without its `ERROR_REASON_` prefix.
  const reason = ErrorReason[`${info.reason}` as keyof typeof ErrorReason];
  if (reason === undefined) {
    throw new Error(`reason ${info.reason} is not a leadpool.v1.ErrorReason`);
  }
  return { code: failure.code, message: failure.rawMessage, reason, metadata: info.metadata };
}
