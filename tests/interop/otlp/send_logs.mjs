// Sends log records to fieldlog-server the way a JavaScript app would: the real
// OpenTelemetry JS SDK (@opentelemetry/sdk-logs) with its OTLP/gRPC exporter
// (@opentelemetry/exporter-logs-otlp-grpc). Then it exports the first batch a
// second time, as the exporter does when it retries, so the test can check the
// server stores it once. Run by tests/otlp_interop_test.cc, from the build
// directory where install.sh put node_modules.
//
// Environment:
//   FIELDLOG_OTLP_URL    http://127.0.0.1:PORT (http: no TLS)
//   FIELDLOG_SCENARIO    "phone" or "tablet": which resource and records
//   FIELDLOG_BASE_MS     the records' base timestamp, Unix milliseconds
//   OTEL_EXPORTER_OTLP_HEADERS  the credential, as any OTel SDK reads it:
//                        authorization=Bearer%20<key> or x-fieldlog-key=<key>
//
// Prints one JSON line (exports, records, failures) and exits 1 if any export
// failed.
import { SeverityNumber } from '@opentelemetry/api-logs';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-grpc';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchLogRecordProcessor, LoggerProvider } from '@opentelemetry/sdk-logs';

const url = process.env.FIELDLOG_OTLP_URL;
const scenario = process.env.FIELDLOG_SCENARIO;
const base = Number(process.env.FIELDLOG_BASE_MS);
if (!url || !scenario || !Number.isFinite(base)) {
  console.error('set FIELDLOG_OTLP_URL, FIELDLOG_SCENARIO and FIELDLOG_BASE_MS');
  process.exit(2);
}

const scenarios = {
  // An app on a phone: the installation id names the device; several
  // severities, typed attributes, non-ASCII text, a structured body, source
  // location, a record-level session, a second logger.
  phone: {
    resource: {
      'app.installation.id': 'install-js-1',
      'user.id': 'anna@example.com',
      'session.id': 'session-js-1',
      'service.name': 'shop-web',
      'service.version': '4.5.6',
      'device.model.name': 'Pixel 8',
    },
    records: [
      ['checkout', { timestamp: base, severityNumber: SeverityNumber.INFO, severityText: 'INFO',
        body: 'Warenkorb geöffnet — 3 Artikel ✓ 日本語',
        attributes: { screen: 'cart', items: 3, total: 59.9, logged_in: true } }],
      ['checkout', { timestamp: base + 1, severityNumber: SeverityNumber.WARN, severityText: 'WARN',
        body: 'slow network', attributes: { latency_ms: 2300 } }],
      ['checkout', { timestamp: base + 2, severityNumber: SeverityNumber.ERROR, severityText: 'ERROR',
        body: 'Zahlung fehlgeschlagen: Karte abgelehnt 💳',
        attributes: { 'code.file.path': 'src/pay.ts', 'code.line.number': 88,
          'code.function.name': 'submitPayment' } }],
      ['checkout', { timestamp: base + 3, severityNumber: SeverityNumber.DEBUG,
        body: { event: 'tap', target: 'Pay' } }],
      ['checkout', { timestamp: base + 4, severityNumber: SeverityNumber.FATAL, severityText: 'FATAL',
        body: 'app will close', attributes: { 'session.id': 'session-js-2' } }],
      ['network', { timestamp: base + 5, severityNumber: SeverityNumber.INFO2, severityText: 'notice',
        body: 'retrying request' }],
    ],
  },
  // Another device of the same user, named by device.id; one record keeps the
  // SDK's own timestamp.
  tablet: {
    resource: {
      'device.id': 'tablet-js-2',
      'user.id': 'anna@example.com',
      'service.name': 'shop-web',
      'service.version': '4.5.6',
    },
    records: [
      ['checkout', { timestamp: base + 10, severityNumber: SeverityNumber.INFO,
        body: 'tablet says hi' }],
      ['checkout', { severityNumber: SeverityNumber.TRACE, body: 'stamped by the SDK' }],
    ],
  },
};

const chosen = scenarios[scenario];
if (!chosen) {
  console.error(`unknown scenario ${scenario}`);
  process.exit(2);
}

const exporter = new OTLPLogExporter({ url, timeoutMillis: 10000 });
// Count every export's result, and keep the first batch to send it again.
const results = [];
let firstBatch = null;
const exportOnce = exporter.export.bind(exporter);
exporter.export = (records, done) => {
  if (firstBatch === null) firstBatch = records;
  exportOnce(records, (result) => {
    results.push({ records: records.length, code: result.code, error: result.error?.message });
    done(result);
  });
};

const provider = new LoggerProvider({
  resource: resourceFromAttributes(chosen.resource),
  processors: [new BatchLogRecordProcessor({ exporter, scheduledDelayMillis: 100 })],
});
for (const [loggerName, record] of chosen.records) {
  provider.getLogger(loggerName, '1.0.0').emit(record);
}
await provider.forceFlush();
// The exporter's retry sends the same records again.
if (firstBatch !== null) {
  await new Promise((resolve) => exporter.export(firstBatch, resolve));
}
await provider.shutdown();

const failures = results.filter((r) => r.code !== 0);
const records = results.reduce((n, r) => n + r.records, 0);
console.log(JSON.stringify({ exports: results.length, records, failures }));
process.exit(failures.length === 0 ? 0 : 1);
