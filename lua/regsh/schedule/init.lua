-- regsh.schedule: scheduling. cron (expressions and fire times) for now; the
-- timers and the daemon (regsh serve) build on it.
return {cron = require "regsh.schedule.cron"}
