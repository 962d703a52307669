-- Per-token request rate limit (src/auth/request-rate-limit.ts): requests per second; NULL = the broker's
-- default (BROKER_TOKEN_RATE_LIMIT), 0 = unlimited.
ALTER TABLE "api_token" ADD COLUMN "rate_limit" INTEGER;
