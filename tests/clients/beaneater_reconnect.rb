# beaneater across a server restart: it reconnects on EOF, replays watch/use and retries the
# command. Usage: ruby beaneater_reconnect.rb PORT. Prints {"phase":"connected",...}, then waits
# for a line on stdin (the test restarts the server meanwhile), then prints the result as JSON.

require 'json'
require 'beaneater'

unless ARGV.length == 1 && ARGV[0] =~ /\A\d+\z/
  warn 'usage: ruby beaneater_reconnect.rb PORT'
  exit 2
end

bs = Beaneater.new("127.0.0.1:#{ARGV[0]}")
tube = bs.tubes['rb-restart']
before = tube.put('before restart')
bs.tubes.watch!('rb-restart')
puts JSON.generate('phase' => 'connected', 'put' => before[:id].to_i)
$stdout.flush

$stdin.gets # the server is restarted before this line arrives

after = tube.put('after restart') # EOF -> reconnect, replay watch + use, retry the put
job = bs.tubes.reserve(0)
out = {
  'phase' => 'done',
  'put' => after[:id].to_i,
  'reserved' => { 'id' => job.id.to_i, 'body' => job.body },
  'tube' => job.stats.tube,
  'used' => bs.tubes.used.name,
  'watched' => bs.tubes.watched.map(&:name)
}
job.delete
bs.close
puts JSON.generate(out)
