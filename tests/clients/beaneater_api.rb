# Drive a beanstalk server with beaneater across most of its API and print what was observed as
# one JSON object. Usage: ruby beaneater_api.rb PORT. The Python test asserts on the output.

require 'json'
require 'beaneater'

unless ARGV.length == 1 && ARGV[0] =~ /\A\d+\z/
  warn 'usage: ruby beaneater_api.rb PORT'
  exit 2
end

bs = Beaneater.new("127.0.0.1:#{ARGV[0]}")
out = {}

# The class name of what the block raises, or "none" when it returns normally.
def raised
  yield
  'none'
rescue StandardError => e
  e.class.name
end

def view(job)
  job && { 'id' => job.id.to_i, 'body' => job.body }
end

tube = bs.tubes['rb-api']
put = tube.put('first job', pri: 10, ttr: 30)
out['put'] = put
tube.put('second job')
out['used'] = bs.tubes.used.name
bs.tubes.watch!('rb-api')
out['watched'] = bs.tubes.watched.map(&:name)

job = bs.tubes.reserve(0)
out['reserved'] = view(job)
st = job.stats
out['stats_job'] = {
  'id' => st.id, 'tube' => st.tube, 'state' => st.state, 'pri' => st.pri, 'ttr' => st.ttr
}
out['reserved?'] = job.reserved?
out['touch'] = job.touch
out['delete'] = job.delete
out['exists_after_delete'] = job.exists?
out['delete_again'] = raised { job.delete }
out['find_missing'] = bs.jobs.find(put[:id].to_i)

# release with delay, peek(:delayed), kick moves delayed jobs when none are buried
job = bs.tubes.reserve(0)
out['release'] = job.release(pri: 5, delay: 3600)
out['released'] = { 'state' => job.stats.state, 'pri' => job.pri, 'releases' => job.stats.releases }
out['peek_delayed'] = view(tube.peek(:delayed))
out['reserve_timed_out'] = raised { bs.tubes.reserve(0) }
out['kick_delayed'] = tube.kick(5)
out['peek_ready'] = view(tube.peek(:ready))

# bury, peek(:buried), job.kick, tube stats
job = bs.tubes.reserve(0)
out['bury'] = job.bury
out['buried_state'] = job.stats.state
out['peek_buried'] = view(tube.peek(:buried))
ts = tube.stats
out['tube_stats'] = {
  'name' => ts.name, 'buried' => ts.current_jobs_buried, 'total' => ts.total_jobs,
  'watching' => ts.current_watching, 'using' => ts.current_using
}
out['job_kick'] = job.kick
out['kicked_state'] = job.stats.state
out['peek_buried_empty'] = tube.peek(:buried)

# DEADLINE_SOON from a ttr-1 reservation, then pause/unpause
job = bs.tubes.reserve(0)
job.delete
tube.put('short ttr', ttr: 1)
short = bs.tubes.reserve(0)
out['deadline_soon'] = raised { bs.tubes.reserve(0) }
short.delete
held = tube.put('held back')
out['pause'] = tube.pause(3600)
out['paused'] = tube.stats.pause
out['reserve_while_paused'] = raised { bs.tubes.reserve(0) }
tube.pause(0)
out['reserve_after_pause'] = view(bs.tubes.reserve(0))
bs.jobs.find(held[:id].to_i).delete

# errors
out['ignore_last'] = raised { bs.tubes.ignore('rb-api') }
out['stats_tube_missing'] = raised { bs.tubes['no-such-tube'].stats }
out['bad_tube'] = raised { bs.tubes.use('-bad') }
out['too_big'] = raised { tube.put('x' * 65_536) }
out['in_sync_after_errors'] = tube.put('still in sync')[:status]
bs.tubes.reserve(0).delete

# bodies that are not plain text: CRLF inside, multi-byte UTF-8, the largest allowed
out['bodies'] = ["a\r\nb\r\n", 'ünïcødé ✓', 'z' * 65_535].map do |body|
  id = tube.put(body)[:id].to_i
  got = bs.tubes.reserve(0)
  got.delete
  # beaneater hands bodies back as binary strings, so compare bytes, not encoded text
  { 'same_id' => got.id.to_i == id, 'same_body' => got.body.b == body.b, 'bytes' => got.body.bytesize }
end

# server stats, typed by Ruby's YAML
stats = bs.stats
out['stats'] = {
  'cmd_put' => stats.cmd_put, 'cmd_bury' => stats.cmd_bury, 'cmd_kick' => stats.cmd_kick,
  'cmd_pause_tube' => stats.cmd_pause_tube, 'max_job_size' => stats.max_job_size,
  'draining' => stats.draining, 'version_is_string' => stats.version.is_a?(String),
  'keys' => stats.keys.length
}
out['tubes'] = bs.tubes.all.map(&:name).sort

# Tube#clear: deletes ready, delayed and buried jobs of one tube via peek + delete
doomed = bs.tubes['rb-clear']
doomed.put('ready one')
doomed.put('delayed one', delay: 3600)
doomed.put('to bury')
bs.tubes.watch!('rb-clear')
bs.tubes.reserve(0).bury
bs.tubes.watch!('rb-api')
before = doomed.stats
out['clear_before'] = [before.current_jobs_ready, before.current_jobs_delayed, before.current_jobs_buried]
doomed.clear
after = doomed.stats
out['clear_after'] = [after.current_jobs_ready, after.current_jobs_delayed, after.current_jobs_buried]

# the worker loop: route by tube, delete on success, bury on an unexpected error
work = bs.tubes['rb-work']
%w[ok-1 fail ok-2 stop].each { |body| work.put(body) }
seen = []
bs.jobs.register('rb-work') do |j|
  seen << j.body
  raise 'boom' if j.body == 'fail'
  bs.jobs.stop! if j.body == 'stop'
end
bs.jobs.process!(reserve_timeout: 1)
out['worker_seen'] = seen
ws = work.stats
out['worker_tube'] = { 'buried' => ws.current_jobs_buried, 'ready' => ws.current_jobs_ready }

bs.close
puts JSON.generate(out)
