"""scripts/cost-model.py's arithmetic against cases computed by hand (docs/cost.md)."""
import argparse
import importlib.util
import pathlib
import unittest

ROOT = pathlib.Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("cost_model", ROOT / "scripts" / "cost-model.py")
cm = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cm)

PLATFORM = sum(len(r) + 26 for r in cm.PLATFORM_RECORDS)  # Lambda's records per invocation
ACCESS = len(cm.ACCESS_RECORD) + 26  # API Gateway's access log line per request


def options(**kw):
    # No cold start to speak of: environments never idle out nor age.
    base = dict(free_tier=False, proxy=False, secret_fetch_ms=0.0, env_lifetime_hours=1e15,
                idle_timeout_s=1e9, retention_days=30.0)
    base.update(kw)
    return argparse.Namespace(**base)


def measured(route_ms=0.4, route_log=100, auth_ms=0.2, answer=15, headers=385,
             signed_ms=None, auth_signed_ms=0.3, verifies=False, route="GET /health",
             function="health"):
    figures = {"anonymous": {"p50_ms": route_ms, "log_bytes": route_log}}
    if signed_ms is not None:
        figures["signed_in"] = {"p50_ms": signed_ms, "log_bytes": route_log}
    return {
        "functions": {function: {"cold_ms": 0.0, "verifies_token": verifies}},
        "authorizer": {"anonymous": {"p50_ms": auth_ms, "log_bytes": 0},
                       "signed_in": {"p50_ms": auth_signed_ms, "log_bytes": 0}, "cold_ms": 0.0},
        "routes": {route: {"function": function, **figures,
                           "answer_bytes": {"identity": answer}, "header_bytes": headers}},
    }


MEMORY = {"health": 256, "users": 256, "authorizer": 256}


def month(m, requests, design, signed_in=0.0, route="GET /health", args=None):
    return cm.month(m, MEMORY, requests, design, {route: 1.0}, signed_in, {"identity": 1.0},
                    {}, args or options())


class Arithmetic(unittest.TestCase):
    def test_duration_is_billed_in_whole_milliseconds_rounded_up(self):
        self.assertEqual([cm.billed_ms(x) for x in (0.0, 0.23, 1.0, 1.01, 2.5)], [1, 1, 1, 2, 3])

    def test_memory_sizes_come_from_globals_unless_a_function_sets_its_own(self):
        template = """Globals:
  Function:
    MemorySize: 256
Resources:
  UsersFunction:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: !Sub waffledotcom-${AppEnv}-users
      MemorySize: 512
  HealthFunction:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: !Sub waffledotcom-${AppEnv}-health
"""
        self.assertEqual(
            cm.memory_sizes(template), {"users": 512, "health": 256, "authorizer": 256}
        )

    def test_the_real_template_gives_every_function_256_mb(self):
        sizes = cm.memory_sizes((ROOT / "template.yaml").read_text())
        self.assertEqual(sizes["users"], 256)
        self.assertEqual(sizes["authorizer"], 256)

    def test_xray_records_one_request_a_second_then_five_percent(self):
        self.assertEqual(cm.sampled_traces(1000), 1000)
        # 100M in a 730-hour month: 2,628,000 reservoir + 5 % of 97,372,000.
        self.assertAlmostEqual(cm.sampled_traces(100_000_000), 2_628_000 + 4_868_600, places=3)

    def test_rare_requests_are_all_cold(self):
        self.assertEqual(cm.cold_starts(0, 2, 600), 0)
        self.assertEqual(cm.cold_starts(10, 2, 600), 10)
        # 100M a month is 38 a second: only the 2-hourly replacements are cold.
        self.assertAlmostEqual(cm.cold_starts(100_000_000, 2, 600), 365, places=3)

    def test_one_million_anonymous_health_checks_before_and_after(self):
        m = measured()
        before = month(m, 1_000_000, "before")
        self.assertAlmostEqual(before["API Gateway requests"], 1.00)
        self.assertAlmostEqual(before["Lambda requests"], 0.40)  # 2M invocations
        # 2M × 1 ms × 0.25 GB = 500 GB-s.
        self.assertAlmostEqual(before["Lambda duration"], 500 * 0.0000133334)
        self.assertAlmostEqual(before["Data transfer out"], 0.4 * 0.09)  # 400 B each
        logs = (100 + 2 * PLATFORM + ACCESS) * 1e6 / 1e9
        self.assertAlmostEqual(before["CloudWatch Logs"], logs * 0.50 + logs * 0.03)
        self.assertAlmostEqual(before["X-Ray traces"], 10.00)  # 2M traces, all sampled
        self.assertAlmostEqual(before["Secrets Manager"], 4 * 0.40, places=6)
        self.assertAlmostEqual(before["RDS instance and storage"], 730 * 0.016 + 20 * 0.115)
        self.assertAlmostEqual(before["Alarms and dashboard"], 33 * 0.10 + 3.00)
        self.assertEqual(before["_invocations"], 2_000_000)

        after = month(m, 1_000_000, "after")
        self.assertAlmostEqual(after["Lambda requests"], 0.20)
        self.assertAlmostEqual(after["Lambda duration"], 250 * 0.0000133334)
        logs = (100 + PLATFORM + ACCESS) * 1e6 / 1e9
        self.assertAlmostEqual(after["CloudWatch Logs"], logs * 0.53)
        self.assertAlmostEqual(after["X-Ray traces"], 5.00)
        self.assertAlmostEqual(before["total"] - after["total"],
                               0.20 + 250 * 0.0000133334 + PLATFORM * 1e-3 * 0.53 + 5.00)

    def test_after_adds_the_token_check_until_the_function_does_it_itself(self):
        # Signed in: 0.9 ms in the function + 0.3 ms of verification = 2 billed ms.
        m = measured(signed_ms=0.9, auth_signed_ms=0.3, verifies=False)
        self.assertAlmostEqual(month(m, 1_000_000, "after", 1.0)["Lambda duration"],
                               500 * 0.0000133334)
        m = measured(signed_ms=0.9, auth_signed_ms=0.3, verifies=True)
        self.assertAlmostEqual(month(m, 1_000_000, "after", 1.0)["Lambda duration"],
                               250 * 0.0000133334)

    def test_answers_over_512_kb_are_metered_as_several_requests(self):
        m = measured(answer=600 * 1024, headers=400)
        self.assertAlmostEqual(month(m, 1_000_000, "after")["API Gateway requests"], 2.00)

    def test_free_tier_takes_the_first_million_invocations(self):
        m = measured()
        result = month(m, 1_000_000, "before", args=options(free_tier=True))
        self.assertAlmostEqual(result["Lambda requests"], 0.20)  # 2M - 1M free
        self.assertAlmostEqual(result["Lambda duration"], 0.0)  # 500 GB-s, under 400k free

    def test_cold_starts_bill_init_and_read_the_secret_once(self):
        m = measured()
        m["functions"]["health"]["cold_ms"] = 9.5
        # Every request cold: 10 health invocations × (9.5 + 50 ms init → 60 ms) on top.
        args = options(idle_timeout_s=1e9, env_lifetime_hours=1e-9, secret_fetch_ms=50.0)
        result = month(m, 10, "after", args=args)
        gb_s = 10 * (0.001 + 0.060) * 0.25
        self.assertAlmostEqual(result["Lambda duration"], gb_s * 0.0000133334)
        self.assertAlmostEqual(result["Secrets Manager"], 10 / 1e4 * 0.05 + 4 * 0.40)


if __name__ == "__main__":
    unittest.main()
